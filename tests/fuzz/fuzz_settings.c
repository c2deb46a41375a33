/* fuzz_settings.c - libFuzzer target for the settings.yaml reader.
 *
 * Feeds arbitrary bytes to ns_settings_parse. A refusal must be NS_ECONFIG
 * with a message that starts with the file name, and must leave exactly the
 * defaults behind, owning nothing. An accepted file must hold only values
 * the relay can rely on (ranges in order, lower-case hex of the right
 * length, networks without host bits, positive rate periods), must read the
 * same the second time, and every helper must answer without trouble. The
 * bounds (size, depth, values, keys) keep each input cheap; -rss_limit_mb
 * and -timeout catch a file that would blow memory or time.
 */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "settings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_kinds(const ns_kindlist *l)
{
    if (l->n > 0 && l->v == NULL)
        abort();
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].min > l->v[i].max)
            abort();
}

static void check_hex(const ns_strlist *l, size_t min, size_t max)
{
    for (size_t i = 0; i < l->n; i++) {
        size_t n = strlen(l->v[i]);
        if (n < min || n > max || strspn(l->v[i], "0123456789abcdef") != n)
            abort();
    }
}

static void check_ips(const ns_iplist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        const ns_ipnet *net = &l->v[i];
        if (net->bits > 128)
            abort();
        for (unsigned b = net->bits; b < 128; b++)
            if (net->addr[b / 8] & (0x80 >> (b % 8)))
                abort(); /* a host bit beyond the prefix */
    }
}

static void check_rates(const ns_rate_limits *l)
{
    for (size_t i = 0; i < l->n; i++) {
        if (l->v[i].period_ms == 0)
            abort();
        check_kinds(&l->v[i].kinds);
    }
}

static void check_notes(const ns_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i] == NULL || l->v[i][0] == '\0')
            abort();
}

static char *describe(const ns_settings *s)
{
    ns_buf b = NS_BUF_INIT;
    ns_settings_describe(s, &b);
    ns_buf_addc(&b, '\0');
    if (!ns_buf_ok(&b))
        abort();
    return b.data;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ns_settings s, again, d;
    char err[512], err2[512];
    int rc = ns_settings_parse("fuzz.yaml", (const char *)data, size, &s, err, sizeof err);
    int rc2 = ns_settings_parse("fuzz.yaml", (const char *)data, size, &again, err2, sizeof err2);
    if (rc != rc2 || strcmp(err, err2) != 0)
        abort(); /* the same bytes read differently twice */
    char *got = describe(&s), *got2 = describe(&again);
    if (strcmp(got, got2) != 0)
        abort();
    free(got2);
    ns_settings_free(&again);
    if (rc != 0) {
        if (rc != NS_ECONFIG || strncmp(err, "fuzz.yaml", 9) != 0 || s.mem != NULL)
            abort();
        ns_settings_defaults(&d);
        char *want = describe(&d);
        if (strcmp(got, want) != 0)
            abort(); /* a refusal left something other than the defaults */
        free(want);
        free(got);
        return 0;
    }
    free(got);

    const struct ns_settings_event *ev = &s.limits.event;
    check_kinds(&ev->kind_whitelist);
    check_kinds(&ev->kind_blacklist);
    check_hex(&ev->pubkey_whitelist, 1, 64);
    check_hex(&ev->pubkey_blacklist, 1, 64);
    check_hex(&ev->whitelist_pubkeys, 64, 64);
    for (size_t i = 0; i < ev->content.n; i++)
        check_kinds(&ev->content.v[i].kinds);
    check_rates(&ev->rate_limits);
    check_rates(&s.limits.connection.rate_limits);
    check_rates(&s.limits.message.rate_limits);
    check_ips(&s.network.trusted_proxies);
    check_ips(&s.limits.connection.ip_whitelist);
    check_ips(&s.limits.connection.ip_blacklist);
    check_ips(&ev->whitelist_ip_addresses);
    check_ips(&s.limits.message.ip_whitelist);
    check_notes(&s.unimplemented);
    check_notes(&s.unknown);
    check_notes(&s.deprecated);
    if (s.network.max_payload_size == 0 || ev->event_id_min_leading_zero_bits > 256 ||
        s.limits.subscription.min_prefix_length > 64)
        abort();

    /* The helpers agree with each other. */
    ns_nip11_limitation lim;
    ns_settings_limitation(&s, &lim);
    static const uint32_t kinds[] = {0, 1, 3, 7, 40, 1000, 10002, 20000, 30023, 65535};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        size_t cl = ns_settings_content_limit(&s, kinds[i]);
        if (lim.max_content_length != 0 && (cl == 0 || cl > lim.max_content_length))
            abort();
        bool allowed = ns_settings_kind_allowed(&s, kinds[i]);
        if (ev->kind_whitelist.n == 0 && ev->kind_blacklist.n == 0 && !allowed)
            abort();
    }
    (void)ns_settings_pubkey_allowed(&s, "7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e");
    char hex[65], ip[64];
    if (ns_settings_info_pubkey(&s, hex) == 0 && strlen(hex) != 64)
        abort();
    char *header = malloc(size + 1);
    if (header) {
        memcpy(header, data, size);
        header[size] = '\0';
        int r = ns_settings_client_ip(&s, "127.0.0.1", header, ip, sizeof ip);
        if (r < 0 || strlen(ip) >= sizeof ip)
            abort();
        free(header);
    }
    ns_settings_free(&s);
    return 0;
}
