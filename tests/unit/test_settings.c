/* test_settings.c - unit tests for src/settings.c.
 *
 * nostream's default settings file loads with the expected values and
 * equals the built-in defaults; a file changing every key loads them all;
 * each kind of bad value is refused with the file, line and dotted key;
 * unknown, unimplemented and deprecated keys are listed; hostile files are
 * refused within bounds; and the helpers the relay enforces with (kinds,
 * pubkeys, content, IP lists, client address, NIP-11) decide as documented.
 * Run from the repository root (reads resources/default-settings.yaml).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "settings.h"

#define DEFAULT_FILE "resources/default-settings.yaml"
#define NPUB "npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg"
#define NPUB_HEX "7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e"

/* Returns the whole file (NUL-terminated, caller frees) and its length. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    ns_buf b = NS_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        ns_buf_add(&b, chunk, n);
    fclose(f);
    ns_buf_addc(&b, '\0');
    *len = b.len - 1;
    return b.data;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    fclose(f);
}

/* describe() of s as a heap string (caller frees). */
static char *describe(const ns_settings *s)
{
    ns_buf b = NS_BUF_INIT;
    ns_settings_describe(s, &b);
    ns_buf_addc(&b, '\0');
    assert_true(ns_buf_ok(&b));
    return b.data;
}

static int parse(const char *text, ns_settings *s, char *err, size_t errlen)
{
    return ns_settings_parse("t.yaml", text, strlen(text), s, err, errlen);
}

static void assert_strlist(const ns_strlist *l, const char *const *want, size_t n)
{
    for (size_t i = 0; i < l->n; i++)
        print_message("  got [%zu] %s\n", i, l->v[i]);
    assert_int_equal(l->n, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(l->v[i], want[i]);
}

static void test_default_file(void **state)
{
    (void)state;
    ns_settings s, d;
    char err[512];
    assert_int_equal(ns_settings_load(DEFAULT_FILE, &s, err, sizeof err), 0);
    assert_string_equal(err, "");
    assert_string_equal(s.info.relay_url, "wss://nostream.your-domain.com");
    assert_string_equal(s.info.name, "nostream.your-domain.com");
    assert_string_equal(s.info.description, "A nostr relay written in Typescript.");
    assert_string_equal(s.info.pubkey, "replace-with-your-pubkey-in-hex");
    assert_string_equal(s.info.contact, "mailto:operator@your-domain.com");
    assert_null(s.info.banner);
    assert_int_equal(s.network.max_payload_size, 524288);
    assert_string_equal(s.network.remote_ip_header, "x-forwarded-for");
    assert_int_equal(s.network.trusted_proxies.n, 2);
    assert_int_equal(s.workers.count, 0);
    assert_int_equal(s.network.handshake_timeout_seconds, 10);
    assert_true(s.network.compression.enabled);
    assert_int_equal(s.network.compression.server_max_window_bits, 12);
    assert_true(s.network.compression.server_no_context_takeover);
    assert_int_equal(s.limits.connection.max_per_ip, 256);
    const struct ns_settings_limits *l = &s.limits;
    assert_int_equal(l->connection.rate_limits.n, 2);
    assert_int_equal(l->connection.rate_limits.v[0].period_ms, 1000);
    assert_int_equal(l->connection.rate_limits.v[0].rate, 12);
    assert_int_equal(l->connection.rate_limits.v[1].period_ms, 60000);
    assert_int_equal(l->connection.rate_limits.v[1].rate, 48);
    assert_int_equal(l->connection.ip_whitelist.n, 3);
    assert_int_equal(l->event.event_id_min_leading_zero_bits, 0);
    assert_int_equal(l->event.kind_whitelist.n, 0);
    assert_int_equal(l->event.created_at_max_positive_delta, 900);
    assert_int_equal(l->event.created_at_max_negative_delta, 0);
    assert_int_equal(l->event.content.n, 2);
    assert_int_equal(l->event.content.v[1].kinds.v[1].max, 9007199254740991ull);
    assert_int_equal(l->event.rate_limits.n, 6);
    assert_string_equal(l->event.rate_limits.v[3].description,
                        "24 events/min for replaceable events and parameterized replaceable events");
    assert_false(l->event.rate_limits.v[5].has_kinds);
    assert_int_equal(l->event.rate_limits.v[5].period_ms, 3600000);
    assert_int_equal(l->subscription.max_subscriptions, 10);
    assert_int_equal(l->subscription.max_filters, 10);
    assert_int_equal(l->subscription.max_filter_values, 2500);
    assert_int_equal(l->subscription.max_subscription_id_length, 256);
    assert_int_equal(l->subscription.max_limit, 5000);
    assert_int_equal(l->subscription.min_prefix_length, 4);
    assert_int_equal(l->message.rate_limits.n, 1);
    assert_int_equal(l->message.rate_limits.v[0].rate, 240);
    static const char *const unimpl[] = {"payments", "paymentsProcessors", "mirroring", "limits.invoice",
                                         "limits.event.pubkey.minBalance"};
    assert_strlist(&s.unimplemented, unimpl, 5);
    assert_int_equal(s.unknown.n, 0);
    assert_int_equal(s.deprecated.n, 0);

    /* The file and the built-in defaults are the same settings. */
    ns_settings_defaults(&d);
    char *a = describe(&s), *b = describe(&d);
    assert_string_equal(a, b);
    free(a);
    free(b);
    ns_settings_free(&s);
    ns_settings_free(&d);
    ns_settings_free(&s); /* a second free is harmless */
}

static void test_default_text_is_the_file(void **state)
{
    (void)state;
    size_t flen, elen;
    char *file = read_file(DEFAULT_FILE, &flen);
    assert_non_null(file);
    const char *emb = ns_settings_default_text(&elen);
    assert_int_equal(elen, flen);
    assert_memory_equal(emb, file, flen);
    free(file);
}

static const char every_key[] =
    "info:\n"
    "  relay_url: wss://relay.example.org\n"
    "  name: example relay\n"
    "  description: \"A relay: with a colon\"\n"
    "  pubkey: " NPUB "\n"
    "  contact: admin@example.org\n"
    "  banner: https://example.org/banner.png\n"
    "  icon: https://example.org/icon.png\n"
    "  self: 7E7E9C42A91BFEF19FA929E5FDA1B72E0EBC1A4C1141673E2794234D86ADDF4E\n"
    "  terms_of_service: https://example.org/tos\n"
    "network:\n"
    "  maxPayloadSize: 131072\n"
    "  remoteIpHeader: CF-Connecting-IP\n"
    "  trustedProxies: [10.0.0.0/8, \"fd00::/8\", 192.168.1.1]\n"
    "  handshakeTimeoutSeconds: 3\n"
    "  compression:\n"
    "    enabled: false\n"
    "    serverMaxWindowBits: 15\n"
    "    serverNoContextTakeover: False\n"
    "workers:\n"
    "  count: 3\n"
    "limits:\n"
    "  connection:\n"
    "    rateLimits:\n"
    "      - period: 2000\n"
    "        rate: 5\n"
    "    ipWhitelist: [127.0.0.1]\n"
    "    ipBlacklist: [203.0.113.0/24]\n"
    "    maxConnectionsPerIp: 7\n"
    "  event:\n"
    "    eventId:\n"
    "      minLeadingZeroBits: 8\n"
    "    kind:\n"
    "      whitelist: [1, [30000, 39999]]\n"
    "      blacklist:\n"
    "        - - 30023\n"
    "          - 30023\n"
    "    pubkey:\n"
    "      minLeadingZeroBits: 4\n"
    "      whitelist: [AB, \"00ff\"]\n"
    "      blacklist: [dead]\n"
    "    createdAt:\n"
    "      maxPositiveDelta: 60\n"
    "      maxNegativeDelta: 86400\n"
    "    content:\n"
    "      - maxLength: 1000\n"
    "        kinds: [1]\n"
    "      - description: everything else\n"
    "        maxLength: 5000\n"
    "    rateLimits:\n"
    "      - kinds: [[1, 2]]\n"
    "        period: 1000\n"
    "        rate: 1\n"
    "    whitelists:\n"
    "      pubkeys: [" NPUB_HEX "]\n"
    "      ipAddresses: [\"2001:db8::/32\"]\n"
    "  client:\n"
    "    subscription:\n"
    "      maxSubscriptions: 20\n"
    "      maxFilters: 5\n"
    "      maxFilterValues: 100\n"
    "      maxSubscriptionIdLength: 64\n"
    "      maxLimit: 1000\n"
    "      minPrefixLength: 64\n"
    "  message:\n"
    "    rateLimits:\n"
    "      - period: 10000\n"
    "        rate: 100\n"
    "      - period: 60000\n"
    "        rate: 300\n"
    "    ipWhitelist: []\n";

static void test_every_key(void **state)
{
    (void)state;
    char dir[] = "/tmp/ns_settings_XXXXXX", path[128], err[512];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/settings.yaml", dir);
    write_file(path, every_key);
    ns_settings s;
    assert_int_equal(ns_settings_load(path, &s, err, sizeof err), 0);
    assert_string_equal(s.info.relay_url, "wss://relay.example.org");
    assert_string_equal(s.info.name, "example relay");
    assert_string_equal(s.info.description, "A relay: with a colon");
    assert_string_equal(s.info.pubkey, NPUB);
    assert_string_equal(s.info.contact, "admin@example.org");
    assert_string_equal(s.info.banner, "https://example.org/banner.png");
    assert_string_equal(s.info.icon, "https://example.org/icon.png");
    assert_string_equal(s.info.self, "7E7E9C42A91BFEF19FA929E5FDA1B72E0EBC1A4C1141673E2794234D86ADDF4E");
    assert_string_equal(s.info.terms_of_service, "https://example.org/tos");
    assert_int_equal(s.network.max_payload_size, 131072);
    assert_string_equal(s.network.remote_ip_header, "cf-connecting-ip");
    assert_int_equal(s.network.trusted_proxies.n, 3);
    assert_true(ns_settings_ip_in_list("10.200.1.1", &s.network.trusted_proxies));
    assert_true(ns_settings_ip_in_list("fd12::1", &s.network.trusted_proxies));
    assert_int_equal(s.network.handshake_timeout_seconds, 3);
    assert_false(s.network.compression.enabled);
    assert_int_equal(s.network.compression.server_max_window_bits, 15);
    assert_false(s.network.compression.server_no_context_takeover);
    assert_int_equal(s.limits.connection.max_per_ip, 7);
    assert_true(ns_settings_ip_in_list("192.168.1.1", &s.network.trusted_proxies));
    assert_false(ns_settings_ip_in_list("127.0.0.1", &s.network.trusted_proxies));
    assert_int_equal(s.workers.count, 3);
    const struct ns_settings_limits *l = &s.limits;
    assert_int_equal(l->connection.rate_limits.n, 1);
    assert_int_equal(l->connection.rate_limits.v[0].period_ms, 2000);
    assert_int_equal(l->connection.rate_limits.v[0].rate, 5);
    assert_int_equal(l->connection.ip_whitelist.n, 1);
    assert_true(ns_settings_ip_in_list("203.0.113.77", &l->connection.ip_blacklist));
    assert_int_equal(l->event.event_id_min_leading_zero_bits, 8);
    assert_int_equal(l->event.kind_whitelist.n, 2);
    assert_int_equal(l->event.kind_whitelist.v[1].min, 30000);
    assert_int_equal(l->event.kind_whitelist.v[1].max, 39999);
    assert_int_equal(l->event.kind_blacklist.n, 1);
    assert_int_equal(l->event.kind_blacklist.v[0].min, 30023);
    assert_int_equal(l->event.pubkey_min_leading_zero_bits, 4);
    static const char *const wl[] = {"ab", "00ff"}, *const bl[] = {"dead"};
    assert_strlist(&l->event.pubkey_whitelist, wl, 2);
    assert_strlist(&l->event.pubkey_blacklist, bl, 1);
    assert_int_equal(l->event.created_at_max_positive_delta, 60);
    assert_int_equal(l->event.created_at_max_negative_delta, 86400);
    assert_int_equal(l->event.content.n, 2);
    assert_true(l->event.content.v[0].has_kinds);
    assert_false(l->event.content.v[1].has_kinds);
    assert_string_equal(l->event.content.v[1].description, "everything else");
    assert_int_equal(l->event.rate_limits.n, 1);
    assert_int_equal(l->event.rate_limits.v[0].kinds.v[0].max, 2);
    assert_null(l->event.rate_limits.v[0].description);
    static const char *const pk[] = {NPUB_HEX};
    assert_strlist(&l->event.whitelist_pubkeys, pk, 1);
    assert_true(ns_settings_ip_in_list("2001:db8::99", &l->event.whitelist_ip_addresses));
    assert_false(ns_settings_ip_in_list("::1", &l->event.whitelist_ip_addresses));
    assert_int_equal(l->subscription.max_subscriptions, 20);
    assert_int_equal(l->subscription.max_filters, 5);
    assert_int_equal(l->subscription.max_filter_values, 100);
    assert_int_equal(l->subscription.max_subscription_id_length, 64);
    assert_int_equal(l->subscription.max_limit, 1000);
    assert_int_equal(l->subscription.min_prefix_length, 64);
    assert_int_equal(l->message.rate_limits.n, 2);
    assert_int_equal(l->message.rate_limits.v[1].rate, 300);
    assert_int_equal(l->message.ip_whitelist.n, 0);
    assert_int_equal(s.unknown.n, 0);
    assert_int_equal(s.unimplemented.n, 0);
    assert_int_equal(s.deprecated.n, 0);

    /* And the helpers see them. */
    assert_true(ns_settings_kind_allowed(&s, 1));
    assert_false(ns_settings_kind_allowed(&s, 2));
    assert_true(ns_settings_kind_allowed(&s, 30001));
    assert_false(ns_settings_kind_allowed(&s, 30023));
    assert_int_equal(ns_settings_content_limit(&s, 1), 1000);
    assert_int_equal(ns_settings_content_limit(&s, 7), 5000);
    char hex[65];
    assert_int_equal(ns_settings_info_pubkey(&s, hex), 0);
    assert_string_equal(hex, NPUB_HEX);
    ns_nip11_limitation lim;
    ns_settings_limitation(&s, &lim);
    assert_int_equal(lim.max_message_length, 131072);
    assert_int_equal(lim.max_subscriptions, 20);
    assert_int_equal(lim.max_filters, 5);
    assert_int_equal(lim.max_limit, 1000);
    assert_int_equal(lim.max_subid_length, 64);
    assert_int_equal(lim.min_prefix, 64);
    assert_int_equal(lim.max_content_length, 5000);
    assert_int_equal(lim.min_pow_difficulty, 8);
    assert_int_equal(lim.created_at_lower_limit, 86400);
    assert_int_equal(lim.created_at_upper_limit, 60);
    assert_true(lim.restricted_writes);
    assert_false(lim.payment_required);
    ns_settings_free(&s);
    unlink(path);
    rmdir(dir);
}

/* Each bad value: the whole message, or (want ending in '*') its start. */
static const struct {
    const char *yaml, *want;
} bad_cases[] = {
    {"limits:\n  event:\n    createdAt:\n      maxPositiveDelta: abc\n",
     "t.yaml:4: limits.event.createdAt.maxPositiveDelta must be a non-negative integer, not \"abc\""},
    {"limits:\n  event:\n    createdAt:\n      maxNegativeDelta: \"900\"\n",
     "t.yaml:4: limits.event.createdAt.maxNegativeDelta must be a non-negative integer, not the string "
     "\"900\""},
    {"limits:\n  event:\n    createdAt:\n      maxNegativeDelta: -5\n",
     "t.yaml:4: limits.event.createdAt.maxNegativeDelta must be a non-negative integer, not \"-5\""},
    {"workers:\n  count: -1\n", "t.yaml:2: workers.count must be an integer from 0 to 1024, not \"-1\""},
    {"limits:\n  client:\n    subscription:\n      maxLimit: 1.5\n",
     "t.yaml:4: limits.client.subscription.maxLimit must be an integer from 0 to 2147483647, not \"1.5\""},
    {"limits:\n  client:\n    subscription:\n      minPrefixLength: 65\n",
     "t.yaml:4: limits.client.subscription.minPrefixLength must be an integer from 0 to 64, not \"65\""},
    {"limits:\n  event:\n    eventId:\n      minLeadingZeroBits: 300\n",
     "t.yaml:4: limits.event.eventId.minLeadingZeroBits must be an integer from 0 to 256, not \"300\""},
    {"network:\n  maxPayloadSize: 0\n",
     "t.yaml:2: network.maxPayloadSize must be an integer from 1 to 1073741824, not \"0\""},
    {"network:\n  compression:\n    enabled: yes\n",
     "t.yaml:3: network.compression.enabled must be true or false, not \"yes\""},
    {"network:\n  compression:\n    serverNoContextTakeover: \"true\"\n",
     "t.yaml:3: network.compression.serverNoContextTakeover must be true or false, not the string \"true\""},
    {"network:\n  compression:\n    serverMaxWindowBits: 8\n",
     "t.yaml:3: network.compression.serverMaxWindowBits must be an integer from 9 to 15, not \"8\""},
    {"network:\n  handshakeTimeoutSeconds: 0\n",
     "t.yaml:2: network.handshakeTimeoutSeconds must be an integer from 1 to 3600, not \"0\""},
    {"limits:\n  connection:\n    maxConnectionsPerIp: -1\n",
     "t.yaml:3: limits.connection.maxConnectionsPerIp must be an integer from 0 to 1000000, not \"-1\""},
    {"limits:\n  event:\n    kind:\n      whitelist:\n        - 1\n        - [10, 5]\n",
     "t.yaml:6: limits.event.kind.whitelist[1] is the range [10, 5]: its first kind must not be greater "
     "than its last"},
    {"limits:\n  event:\n    kind:\n      blacklist: [[1, 2, 3]]\n",
     "t.yaml:4: limits.event.kind.blacklist[0] must be an event kind (a non-negative integer) or a [min, "
     "max] pair of kinds, not a list"},
    {"limits:\n  event:\n    kind:\n      blacklist: [-1]\n",
     "t.yaml:4: limits.event.kind.blacklist[0] must be an event kind (a non-negative integer) or a [min, "
     "max] pair of kinds, not \"-1\""},
    {"limits:\n  event:\n    kind:\n      whitelist: 1\n",
     "t.yaml:4: limits.event.kind.whitelist must be a list, not \"1\""},
    {"limits:\n  event:\n    pubkey:\n      blacklist:\n        - abcg\n",
     "t.yaml:5: limits.event.pubkey.blacklist[0] must be a hex public key or prefix (1 to 64 hex digits), "
     "not \"abcg\""},
    {"limits:\n  event:\n    pubkey:\n      whitelist: [\"\"]\n",
     "t.yaml:4: limits.event.pubkey.whitelist[0] must be a hex public key or prefix (1 to 64 hex "
     "digits), not the string \"\""},
    {"limits:\n  event:\n    whitelists:\n      pubkeys: [abc]\n",
     "t.yaml:4: limits.event.whitelists.pubkeys[0] must be a public key in hex (64 hex digits), not "
     "\"abc\""},
    {"network:\n  trustedProxies:\n    - localhost\n",
     "t.yaml:3: network.trustedProxies[0] must be an IP address or network such as 10.0.0.1, ::1 or "
     "10.0.0.0/8, not \"localhost\""},
    {"limits:\n  connection:\n    ipWhitelist: [10.0.0.0/33]\n",
     "t.yaml:3: limits.connection.ipWhitelist[0] must be an IP address or network*"},
    {"limits:\n  message:\n    ipWhitelist: [\"::1/129\"]\n",
     "t.yaml:3: limits.message.ipWhitelist[0] must be an IP address or network*"},
    {"network:\n  remoteIpHeader: x forwarded\n",
     "t.yaml:2: network.remoteIpHeader must be an HTTP header name such as x-forwarded-for, not \"x "
     "forwarded\""},
    {"limits:\n  message:\n    rateLimits:\n      - rate: 5\n",
     "t.yaml:4: limits.message.rateLimits[0] needs both period (ms) and rate, it lacks period"},
    {"limits:\n  connection:\n    rateLimits:\n      - period: 0\n        rate: 5\n",
     "t.yaml:4: limits.connection.rateLimits[0].period must be a positive integer, not \"0\""},
    {"limits:\n  event:\n    rateLimits:\n      - 5\n",
     "t.yaml:4: limits.event.rateLimits[0] must be a mapping with period and rate, not \"5\""},
    {"limits:\n  event:\n    content:\n      maxLength: 10\n      kinds: 5\n",
     "t.yaml:5: limits.event.content.kinds must be a list, not \"5\""},
    {"limits:\n  event:\n    content: [5]\n",
     "t.yaml:3: limits.event.content[0] must be a mapping with maxLength (and kinds), not \"5\""},
    {"limits:\n  event:\n    content: big\n",
     "t.yaml:3: limits.event.content must be a mapping with maxLength (and kinds), or a list of them, not "
     "\"big\""},
    {"limits: 5\n", "t.yaml:1: limits must be a mapping (indented keys), not \"5\""},
    {"info:\n  name: [a, b]\n", "t.yaml:2: info.name must be a string, not a list"},
    {"info:\n  name: \"a\\0b\"\n", "t.yaml:2: info.name must be a string without NUL characters*"},
    {"a: &x 1\nworkers:\n  count: *x\n",
     "t.yaml:3: YAML aliases (*x) are not supported: write the value out in full"},
    {"workers:\n  count: 1\n  count: 2\n", "t.yaml:3: workers.count is given twice (first on line 2)"},
    {"workers:\n  ? [a]\n  : 1\n", "t.yaml:2: workers has a key that is a list or mapping"},
    {"workers:\n  ?\n  : 1\n", "t.yaml:2: workers has an empty key"},
    {"workers: {~: 1}\n", "t.yaml:1: workers has an empty key"},
    {"{\"\": {\"relay_url\": x}}\n", "t.yaml:1: the file has an empty key"},
    {"workers:\n  count: !!binary aGVsbG8=\n",
     "t.yaml:2: the YAML tag \"tag:yaml.org,2002:binary\" is not supported here"},
    {"info:\n  name: [unclosed\n", "t.yaml:*"},
    {"info:\n  name: \xff\n", "t.yaml:2: YAML syntax error: invalid leading UTF-8 octet"},
    {"---\na: 1\n---\nb: 2\n",
     "t.yaml:3: a second YAML document starts here; the settings must be one document"},
    {"- a\n", "t.yaml:1: the settings must be a mapping of keys (info:, limits:, ...), not a list"},
    {"just words\n",
     "t.yaml:1: the settings must be a mapping of keys (info:, limits:, ...), not a single value"},
};

static void test_bad_values(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        ns_settings s;
        char err[512];
        int rc = parse(bad_cases[i].yaml, &s, err, sizeof err);
        print_message("case %zu: %s\n", i, err);
        assert_int_equal(rc, NS_ECONFIG);
        size_t n = strlen(bad_cases[i].want);
        if (bad_cases[i].want[n - 1] == '*')
            assert_memory_equal(err, bad_cases[i].want, n - 1);
        else
            assert_string_equal(err, bad_cases[i].want);
        /* a failed load leaves the defaults, owning nothing */
        assert_null(s.mem);
        assert_int_equal(s.network.max_payload_size, 524288);
        ns_settings_free(&s);
    }
}

static void test_unknown_unimplemented_deprecated(void **state)
{
    (void)state;
    static const char yaml[] = "foo: 1\n"
                               "payments:\n"
                               "  enabled: true\n"
                               "nip05:\n"
                               "  mode: enabled\n"
                               "network:\n"
                               "  maxPayloadSize: 1000\n"
                               "  colour: blue\n"
                               "limits:\n"
                               "  rateLimiter:\n"
                               "    strategy: ewma\n"
                               "  admissionCheck: {}\n"
                               "  event:\n"
                               "    retention:\n"
                               "      maxDays: 30\n"
                               "    pubkey:\n"
                               "      minBalance: 10\n"
                               "    rateLimits:\n"
                               "      - period: 1\n"
                               "        rate: 1\n"
                               "        burst: 3\n"
                               "  message:\n"
                               "    rateLimits:\n"
                               "      - period: 1\n"
                               "        rate: 1\n"
                               "        type: EVENT\n"
                               "  connection:\n"
                               "    rateLimits:\n"
                               "      - period: 1\n"
                               "        rate: 1\n"
                               "        kinds: [1]\n"
                               "\"we\\x01ird\": 1\n";
    ns_settings s;
    char err[512];
    assert_int_equal(parse(yaml, &s, err, sizeof err), 0);
    static const char *const unknown[] = {"foo", "network.colour", "limits.event.rateLimits[0].burst",
                                          "limits.connection.rateLimits[0].kinds", "we\\x01ird"};
    static const char *const unimpl[] = {"payments",
                                         "nip05",
                                         "limits.rateLimiter",
                                         "limits.admissionCheck",
                                         "limits.event.retention",
                                         "limits.event.pubkey.minBalance",
                                         "limits.message.rateLimits[0].type"};
    assert_strlist(&s.unknown, unknown, 5);
    assert_strlist(&s.unimplemented, unimpl, 7);
    assert_int_equal(s.network.max_payload_size, 1000);
    ns_settings_free(&s);

    /* nostream's deprecated spellings still work, and are named. */
    assert_int_equal(parse("network:\n  max_payload_size: 1000\n  remote_ip_header: X-Real-IP\n", &s, err,
                           sizeof err),
                     0);
    assert_int_equal(s.network.max_payload_size, 1000);
    assert_string_equal(s.network.remote_ip_header, "x-real-ip");
    static const char *const dep[] = {"network.max_payload_size (use maxPayloadSize)",
                                      "network.remote_ip_header (use remoteIpHeader)"};
    assert_strlist(&s.deprecated, dep, 2);
    ns_settings_free(&s);
    /* ... but the current name wins when both are there */
    assert_int_equal(parse("network:\n  max_payload_size: 1000\n  maxPayloadSize: 2000\n", &s, err,
                           sizeof err),
                     0);
    assert_int_equal(s.network.max_payload_size, 2000);
    ns_settings_free(&s);
    /* an empty remoteIpHeader turns the header off */
    assert_int_equal(parse("network:\n  remoteIpHeader: \"\"\n", &s, err, sizeof err), 0);
    assert_null(s.network.remote_ip_header);
    ns_settings_free(&s);
}

static void test_missing_and_empty(void **state)
{
    (void)state;
    ns_settings s, d;
    char err[512];
    assert_int_equal(ns_settings_load("/nonexistent/dir/settings.yaml", &s, err, sizeof err), NS_EIO);
    assert_string_equal(err,
                        "cannot read settings file /nonexistent/dir/settings.yaml: No such file or directory");
    assert_int_equal(ns_settings_load("/tmp", &s, err, sizeof err), NS_EIO);
    assert_string_equal(err, "cannot read settings file /tmp: it is a directory");

    ns_settings_defaults(&d);
    char *want = describe(&d);
    static const char *const empties[] = {"", "# only a comment\n", "---\n", "~\n", "\n\n",
                                          "limits:\n", "limits:\n  event:\n"};
    for (size_t i = 0; i < sizeof empties / sizeof empties[0]; i++) {
        assert_int_equal(parse(empties[i], &s, err, sizeof err), 0);
        char *got = describe(&s);
        assert_string_equal(got, want);
        assert_int_equal(s.unknown.n + s.unimplemented.n + s.deprecated.n, 0);
        free(got);
        ns_settings_free(&s);
    }
    char dir[] = "/tmp/ns_settings_XXXXXX", path[128];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/settings.yaml", dir);
    write_file(path, "");
    assert_int_equal(ns_settings_load(path, &s, err, sizeof err), 0);
    char *got = describe(&s);
    assert_string_equal(got, want);
    free(got);
    ns_settings_free(&s);
    unlink(path);
    rmdir(dir);
    free(want);

    /* Empty values: an empty list is an empty list, an empty number 0. */
    assert_int_equal(parse("limits:\n  connection:\n    ipWhitelist:\n  event:\n    createdAt:\n"
                           "      maxPositiveDelta:\n",
                           &s, err, sizeof err),
                     0);
    assert_int_equal(s.limits.connection.ip_whitelist.n, 0);
    assert_int_equal(s.limits.event.created_at_max_positive_delta, 0);
    ns_settings_free(&s);
}

static void test_write_default(void **state)
{
    (void)state;
    char dir[] = "/tmp/ns_settings_XXXXXX", path[256], sub[128], err[512];
    assert_non_null(mkdtemp(dir));
    snprintf(sub, sizeof sub, "%s/a/b", dir);
    snprintf(path, sizeof path, "%s/settings.yaml", sub);
    assert_int_equal(ns_settings_write_default(path, err, sizeof err), 1);
    struct stat st;
    assert_int_equal(stat(sub, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    size_t flen, wlen;
    char *file = read_file(DEFAULT_FILE, &flen), *written = read_file(path, &wlen);
    assert_non_null(file);
    assert_non_null(written);
    assert_int_equal(wlen, flen);
    assert_memory_equal(written, file, flen);
    free(written);

    /* It loads, and is never overwritten. */
    ns_settings s;
    assert_int_equal(ns_settings_load(path, &s, err, sizeof err), 0);
    ns_settings_free(&s);
    write_file(path, "workers:\n  count: 7\n");
    assert_int_equal(ns_settings_write_default(path, err, sizeof err), 0);
    written = read_file(path, &wlen);
    assert_string_equal(written, "workers:\n  count: 7\n");
    free(written);
    free(file);

    /* No temporary file is left behind. */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "test $(ls -A %s | wc -l) -eq 1", sub);
    assert_int_equal(system(cmd), 0);

    /* A file where a directory should be is an error naming it. */
    char blocked[320];
    snprintf(blocked, sizeof blocked, "%s/settings.yaml/x/settings.yaml", sub);
    assert_int_equal(ns_settings_write_default(blocked, err, sizeof err), NS_EIO);
    assert_non_null(strstr(err, "settings.yaml"));
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_kinds_and_pubkeys(void **state)
{
    (void)state;
    ns_settings s;
    char err[512];
    ns_settings_defaults(&s);
    for (uint32_t k = 0; k < 70000; k += 7)
        assert_true(ns_settings_kind_allowed(&s, k));
    assert_true(ns_settings_pubkey_allowed(&s, NPUB_HEX));

    assert_int_equal(parse("limits:\n  event:\n    kind:\n      whitelist: [[0, 10], 30023]\n"
                           "      blacklist: [7, [9, 30023]]\n"
                           "    pubkey:\n      blacklist: [DEAD, \"7e\"]\n",
                           &s, err, sizeof err),
                     0);
    assert_true(ns_settings_kind_allowed(&s, 0));
    assert_true(ns_settings_kind_allowed(&s, 8));
    assert_false(ns_settings_kind_allowed(&s, 7));  /* blacklisted */
    assert_false(ns_settings_kind_allowed(&s, 9));  /* blacklist range */
    assert_false(ns_settings_kind_allowed(&s, 11)); /* not whitelisted */
    assert_false(ns_settings_kind_allowed(&s, 30023));
    assert_false(ns_settings_pubkey_allowed(&s, NPUB_HEX));
    assert_false(ns_settings_pubkey_allowed(&s, "deadbeef"));
    assert_true(ns_settings_pubkey_allowed(&s, "beef"));
    assert_false(ns_settings_pubkey_allowed(&s, NULL));
    ns_settings_free(&s);

    assert_int_equal(parse("limits:\n  event:\n    pubkey:\n      whitelist: [00, \"7E7E\"]\n", &s, err,
                           sizeof err),
                     0);
    assert_true(ns_settings_pubkey_allowed(&s, NPUB_HEX));
    assert_true(ns_settings_pubkey_allowed(&s, "00aa"));
    assert_false(ns_settings_pubkey_allowed(&s, "0a00"));
    ns_settings_free(&s);
}

static void test_content_limits(void **state)
{
    (void)state;
    ns_settings s;
    char err[512];
    ns_nip11_limitation lim;
    ns_settings_defaults(&s);
    assert_int_equal(ns_settings_content_limit(&s, 0), 102400);
    assert_int_equal(ns_settings_content_limit(&s, 45), 102400);
    assert_int_equal(ns_settings_content_limit(&s, 65535), 102400);
    assert_int_equal(ns_settings_content_limit(&s, UINT32_MAX), 102400);

    /* One mapping instead of a list (nostream accepts both). */
    assert_int_equal(parse("limits:\n  event:\n    content:\n      maxLength: 10\n", &s, err, sizeof err), 0);
    assert_int_equal(s.limits.event.content.n, 1);
    assert_int_equal(ns_settings_content_limit(&s, 12345), 10);
    ns_settings_limitation(&s, &lim);
    assert_int_equal(lim.max_content_length, 10);
    ns_settings_free(&s);

    /* kinds: [] applies to nothing; empty kinds to everything; 0 limits nothing. */
    assert_int_equal(parse("limits:\n  event:\n    content:\n"
                           "      - {maxLength: 5, kinds: []}\n"
                           "      - {maxLength: 50, kinds: }\n"
                           "      - {maxLength: 0}\n",
                           &s, err, sizeof err),
                     0);
    assert_int_equal(ns_settings_content_limit(&s, 1), 50);
    ns_settings_free(&s);

    /* The smallest applicable limit wins, as nostream's first-exceeded rule. */
    assert_int_equal(parse("limits:\n  event:\n    content:\n"
                           "      - {maxLength: 50}\n"
                           "      - {maxLength: 10, kinds: [[0, 100]]}\n",
                           &s, err, sizeof err),
                     0);
    assert_int_equal(ns_settings_content_limit(&s, 100), 10);
    assert_int_equal(ns_settings_content_limit(&s, 101), 50);
    ns_settings_limitation(&s, &lim);
    assert_int_equal(lim.max_content_length, 50);
    ns_settings_free(&s);

    /* Some kind without a limit: NIP-11 leaves max_content_length out. */
    assert_int_equal(parse("limits:\n  event:\n    content:\n      - {maxLength: 10, kinds: [1]}\n", &s, err,
                           sizeof err),
                     0);
    assert_int_equal(ns_settings_content_limit(&s, 2), 0);
    ns_settings_limitation(&s, &lim);
    assert_int_equal(lim.max_content_length, 0);
    ns_settings_free(&s);
    assert_int_equal(parse("limits:\n  event:\n    content: []\n", &s, err, sizeof err), 0);
    assert_int_equal(ns_settings_content_limit(&s, 1), 0);
    ns_settings_free(&s);
}

static void test_ip_lists(void **state)
{
    (void)state;
    ns_settings s;
    char err[512];
    assert_int_equal(parse("limits:\n  message:\n    ipWhitelist: [10.1.2.3/8, \"::1\", \"2001:db8::/32\","
                           " \"::ffff:192.168.0.0/112\", 172.16.5.4/12, 0.0.0.0/0]\n"
                           "  connection:\n    ipWhitelist: [\"::ffff:10.10.10.1\"]\n",
                           &s, err, sizeof err),
                     0);
    const ns_iplist *l = &s.limits.message.ip_whitelist;
    assert_true(ns_settings_ip_in_list("10.200.0.1", l));
    assert_true(ns_settings_ip_in_list("::ffff:10.200.0.1", l));
    assert_true(ns_settings_ip_in_list("::1", l));
    assert_true(ns_settings_ip_in_list("2001:db8:ffff::5", l));
    assert_false(ns_settings_ip_in_list("2001:db9::", l));
    assert_true(ns_settings_ip_in_list("192.168.44.1", l));
    assert_true(ns_settings_ip_in_list("172.31.255.255", l));
    assert_true(ns_settings_ip_in_list("8.8.8.8", l)); /* 0.0.0.0/0: all of IPv4 */
    assert_false(ns_settings_ip_in_list("fe80::1", l));
    assert_false(ns_settings_ip_in_list("not an ip", l));
    assert_false(ns_settings_ip_in_list("10.0.0.1/8", l));
    assert_false(ns_settings_ip_in_list(NULL, l));
    /* nostream's "::ffff:x" entries match the plain IPv4 form too */
    assert_true(ns_settings_ip_in_list("10.10.10.1", &s.limits.connection.ip_whitelist));
    char *d = describe(&s);
    assert_non_null(strstr(d, "limits.message.ipWhitelist = [10.0.0.0/8, ::1, 2001:db8::/32, "
                              "192.168.0.0/16, 172.16.0.0/12, 0.0.0.0/0]"));
    free(d);

    /* Rate-limit exemptions: whole pubkeys, IPs. */
    ns_settings_free(&s);
    assert_int_equal(parse("limits:\n  event:\n    whitelists:\n      pubkeys: [" NPUB_HEX "]\n"
                           "      ipAddresses: [10.0.0.0/8]\n",
                           &s, err, sizeof err),
                     0);
    assert_true(ns_settings_event_rate_exempt(&s, NPUB_HEX, NULL));
    assert_false(ns_settings_event_rate_exempt(&s, "7e7e", "1.1.1.1"));
    assert_true(ns_settings_event_rate_exempt(&s, "7e7e", "10.9.9.9"));
    ns_settings_free(&s);
}

static void test_client_ip(void **state)
{
    (void)state;
    ns_settings s;
    char ip[64], err[512];
    ns_settings_defaults(&s); /* x-forwarded-for, trusted 127.0.0.1 and ::1 */
    assert_int_equal(ns_settings_client_ip(&s, "203.0.113.5", "1.2.3.4", ip, sizeof ip), 0);
    assert_string_equal(ip, "203.0.113.5"); /* anyone may send the header: not believed */
    assert_int_equal(ns_settings_client_ip(&s, "127.0.0.1", "1.2.3.4", ip, sizeof ip), 1);
    assert_string_equal(ip, "1.2.3.4");
    assert_int_equal(ns_settings_client_ip(&s, "::ffff:127.0.0.1", "6.6.6.6, 1.2.3.4", ip, sizeof ip), 1);
    assert_string_equal(ip, "1.2.3.4"); /* what the client prepended is not believed */
    assert_int_equal(ns_settings_client_ip(&s, "::1", "1.2.3.4,127.0.0.1 , ::1", ip, sizeof ip), 1);
    assert_string_equal(ip, "1.2.3.4"); /* trusted hops are skipped */
    assert_int_equal(ns_settings_client_ip(&s, "127.0.0.1", "garbage", ip, sizeof ip), 0);
    assert_string_equal(ip, "127.0.0.1");
    assert_int_equal(ns_settings_client_ip(&s, "127.0.0.1", NULL, ip, sizeof ip), 0);
    assert_string_equal(ip, "127.0.0.1");
    assert_int_equal(ns_settings_client_ip(&s, "::ffff:1.2.3.4", NULL, ip, sizeof ip), 0);
    assert_string_equal(ip, "1.2.3.4");
    assert_int_equal(ns_settings_client_ip(&s, "127.0.0.1", "2001:db8::1", ip, 4), NS_ERANGE);
    assert_int_equal(ns_settings_client_ip(&s, "unix-socket", NULL, ip, sizeof ip), 0);
    assert_string_equal(ip, "unix-socket");
    assert_int_equal(parse("network:\n  remoteIpHeader:\n", &s, err, sizeof err), 0);
    assert_int_equal(ns_settings_client_ip(&s, "127.0.0.1", "1.2.3.4", ip, sizeof ip), 0);
    assert_string_equal(ip, "127.0.0.1"); /* no header name: never believed */
    ns_settings_free(&s);
}

static void test_info_pubkey_and_limitation(void **state)
{
    (void)state;
    ns_settings s;
    char hex[65], err[512];
    ns_settings_defaults(&s);
    assert_int_equal(ns_settings_info_pubkey(&s, hex), NS_EINVAL); /* the placeholder */
    assert_string_equal(hex, "");
    ns_nip11_limitation lim;
    ns_settings_limitation(&s, &lim);
    assert_int_equal(lim.max_message_length, 524288);
    assert_int_equal(lim.max_subscriptions, 10);
    assert_int_equal(lim.max_filters, 10);
    assert_int_equal(lim.max_limit, 5000);
    assert_int_equal(lim.max_subid_length, 256);
    assert_int_equal(lim.min_prefix, 4);
    assert_int_equal(lim.max_content_length, 102400);
    assert_int_equal(lim.min_pow_difficulty, 0);
    assert_int_equal(lim.created_at_lower_limit, 0);
    assert_int_equal(lim.created_at_upper_limit, 900);
    assert_false(lim.restricted_writes);
    assert_false(lim.auth_required);
    assert_false(lim.payment_required);

    static const struct {
        const char *pubkey;
        int rc;
    } cases[] = {
        {NPUB, 0},
        {"NPUB10ELFCS4FR0L0R8AF98JLMGDH9C8TCXJVZ9QKW038JS35MP4DMA8QZVJPTG", 0},
        {"npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptf", NS_EINVAL}, /* checksum */
        {"npub10elfcs4fr0l0r8aF98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg", NS_EINVAL}, /* mixed case */
        {"nsec10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg", NS_EINVAL},
        {NPUB_HEX, 0},
        {"7E7E9C42A91BFEF19FA929E5FDA1B72E0EBC1A4C1141673E2794234D86ADDF4E", 0},
        {"7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4", NS_EINVAL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s.info.pubkey = cases[i].pubkey;
        assert_int_equal(ns_settings_info_pubkey(&s, hex), cases[i].rc);
        if (cases[i].rc == 0)
            assert_string_equal(hex, NPUB_HEX);
    }

    assert_int_equal(parse("limits:\n  event:\n    pubkey:\n      minLeadingZeroBits: 1\n", &s, err, sizeof err),
                     0);
    ns_settings_limitation(&s, &lim);
    assert_true(lim.restricted_writes);
    ns_settings_free(&s);
}

/* Hostile files are refused quickly and within bounds. */
static void test_hostile(void **state)
{
    (void)state;
    ns_settings s;
    char err[512];
    ns_buf b = NS_BUF_INIT;

    ns_buf_adds(&b, "a: ");
    for (int i = 0; i < 100000; i++)
        ns_buf_addc(&b, '[');
    assert_int_equal(ns_settings_parse("t.yaml", b.data, b.len, &s, err, sizeof err), NS_ECONFIG);
    assert_string_equal(err, "t.yaml:1: values are nested more than 32 levels deep");

    ns_buf_reset(&b);
    ns_buf_adds(&b, "a: [");
    for (int i = 0; i < NS_SETTINGS_MAX_NODES; i++)
        ns_buf_adds(&b, "1,");
    ns_buf_adds(&b, "1]\n");
    assert_int_equal(ns_settings_parse("t.yaml", b.data, b.len, &s, err, sizeof err), NS_ECONFIG);
    assert_string_equal(err, "t.yaml:1: the settings hold more than 100000 values");

    ns_buf_reset(&b);
    ns_buf_adds(&b, "network:\n");
    for (int i = 0; i <= NS_SETTINGS_MAX_KEYS; i++)
        ns_buf_addf(&b, "  k%d: 1\n", i);
    assert_int_equal(ns_settings_parse("t.yaml", b.data, b.len, &s, err, sizeof err), NS_ECONFIG);
    assert_string_equal(err, "t.yaml:2: network has more than 1024 keys");

    /* A billion laughs stops at the first alias. */
    assert_int_equal(parse("a: &a [x, x]\nb: &b [*a, *a]\n", &s, err, sizeof err), NS_ECONFIG);
    assert_string_equal(err, "t.yaml:2: YAML aliases (*a) are not supported: write the value out in full");

    ns_buf_reset(&b);
    ns_buf_adds(&b, "# ");
    while (b.len <= NS_SETTINGS_MAX_FILE)
        ns_buf_adds(&b, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    assert_int_equal(ns_settings_parse("t.yaml", b.data, b.len, &s, err, sizeof err), NS_ECONFIG);
    assert_string_equal(err, "t.yaml: larger than 1048576 bytes: not a settings file");
    ns_buf_free(&b);

    /* A message longer than the buffer is cut, still terminated. */
    assert_int_equal(parse("workers:\n  count: 1\n  count: 1\n", &s, err, 12), NS_ECONFIG);
    assert_string_equal(err, "t.yaml:3: w"); /* the message is cut to the buffer */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_file),
        cmocka_unit_test(test_default_text_is_the_file),
        cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_unknown_unimplemented_deprecated),
        cmocka_unit_test(test_missing_and_empty),
        cmocka_unit_test(test_write_default),
        cmocka_unit_test(test_kinds_and_pubkeys),
        cmocka_unit_test(test_content_limits),
        cmocka_unit_test(test_ip_lists),
        cmocka_unit_test(test_client_ip),
        cmocka_unit_test(test_info_pubkey_and_limitation),
        cmocka_unit_test(test_hostile),
    };
    return cmocka_run_group_tests_name("settings", tests, NULL, NULL);
}
